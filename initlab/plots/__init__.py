"""Pure figures: results in, plotly figures out (no streamlit, no randomness). ``signal`` holds the
shared style (palette, ticks, reference lines) and the Signal / Gradients / Compare / Weight ranges
figures; ``training`` and ``theory`` the figures of those tabs.
"""
