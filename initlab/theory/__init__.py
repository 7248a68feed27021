"""Mean-field theory of deep random networks (q-map, chi1, phase diagram, depth scales) and the
Theory tab's sentences.
"""
