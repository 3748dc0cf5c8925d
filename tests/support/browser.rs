//! A real headless Chromium through chromedriver.
