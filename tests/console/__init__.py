"""The Corral console, tried in a real browser (Chromium driven by Playwright) and over HTTP."""
