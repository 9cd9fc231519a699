//! Outbound address policy against SSRF (being built).

/// Which addresses outbound HTTP may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub allowed: Vec<ipnet::IpNet>,
}

impl AddressPolicy {
    pub fn new(allowed: Vec<ipnet::IpNet>) -> Self {
        Self { allowed }
    }
}
