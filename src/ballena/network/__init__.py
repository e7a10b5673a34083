"""Networks: bridge driver, IPAM, NAT and published ports, embedded DNS."""
