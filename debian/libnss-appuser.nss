# After every source already there ("files" first: a local account wins),
# as README.md and examples/nsswitch.conf say.  shadow and gshadow stay
# alone: application users have no password.
passwd last appuser
group last appuser
