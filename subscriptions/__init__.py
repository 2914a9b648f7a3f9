"""Citizens, contact points, subscriptions, the area catalogue, matching and consent."""
