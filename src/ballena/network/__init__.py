"""Networks: the bridge driver (``bridge``: bridges, veth pairs, the nftables table), IPAM
(``ipam``), published ports (``ports``, ``portproxy``), the embedded DNS server (``dns``)
answering from ``resolver``, and netlink on one checked thread (``netlink``)."""
