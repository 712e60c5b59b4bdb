"""tradeoff: reproduce and measure 'Robustness May Be at Odds with Accuracy' (Tsipras et al., 2019)."""

__version__ = "0.1.0"
