"""Shared by the Chromium suites."""

from __future__ import annotations

# Report every CSP violation as a console error (runs before any page script, in every frame).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
});
"""
