"""The Streamlit app: the pages, the sidebar and share box, the page state and its link codec, the
page gate, the logs, and the results a page computes (``app.results``: what can be computed, the
shared caches, the precomputed store and its build).
"""
