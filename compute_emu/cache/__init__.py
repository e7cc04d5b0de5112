"""The cache of a running server: Fastly's readthrough HTTP cache and the Core/Simple cache.

``freshness`` holds the pure HTTP rules; ``store`` the bounded in-memory store they share.
"""
