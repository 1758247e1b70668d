"""expert-draw: verifiable, conflict-filtered random draws of bid-evaluation experts.

Importing this package pulls in nothing heavy; the service lives in the subpackages.
"""

__version__ = "0.1.0"
