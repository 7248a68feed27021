"""The results pages compute, as one concern: what can be computed from which arguments
(``products``), the caches shared by every session (``cache``), the precomputed store on disk
(``store``) and the command that builds it at image build (``build``).
"""
