"""Training small networks on toy 2-D data from many restarts: the training scenario and its budget,
the datasets, the engine (numpy reference and numba kernel) and the Training tab's sentences.
"""
