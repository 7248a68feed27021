"""What a weight matrix and its biases are drawn from, and the nonlinearities between them: every
initializer (its draw, moments, formula and source), every bias scheme, every activation.
"""
