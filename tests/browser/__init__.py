"""Browser tests: pages of the service in a real headless Chromium (Debian's, via chromedriver)."""
