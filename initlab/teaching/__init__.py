"""The content: ready-made scenarios (presets), the Learn texts, weight ranges against the number of
inputs, and the Keras / PyTorch code that builds or trains the same network.
"""
