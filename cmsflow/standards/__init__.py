"""The clause library: the seed standards as data (YAML), validated on load."""
