"""The Faust stream processor: the app, topics, wire records, agents and their handlers."""
