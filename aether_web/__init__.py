"""aether_web: metering, billing and the public web app of aether."""
