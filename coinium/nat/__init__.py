"""Port mapping behind a NAT: a PCP (RFC 6887) client with NAT-PMP (RFC 6886) fallback, as
Bitcoin Core does it since it dropped UPnP (coinium.nat.pcp for the wire formats and the client,
coinium.nat.mapper for keeping the node's P2P ports mapped)."""
