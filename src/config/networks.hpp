// The network checks that need more than one value: a gateway against its subnet, networks
// against each other (bridge, subnet), and a container's `network` and `ip` against its network
// and the other containers' static addresses. Single values are checked by their parsers.
#pragma once

#include "keys.hpp"
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctr/config/config.hpp"
#include "ctr/config/ini.hpp"
#include "ctr/core/inet.hpp"

namespace ctr::config {

class network_checker {
  public:
    // A [network NAME] section read through the key table, with where its keys stood. Fills the
    // default gateway and checks the gateway. `usable` is false when the section's keys already
    // had problems: it then joins no further check, but containers may still name it.
    void add(network net, const key_lines& keys, bool usable, std::vector<ini::problem>& problems);

    // Two networks with one bridge or overlapping subnets, reported at the later one. Call once
    // every section is read.
    void check_clashes(std::vector<ini::problem>& problems) const;

    // A [container NAME] section's network and ip, in file order: a static address is reported
    // where it is given the second time.
    void check_container(std::string_view label, const container_draft& d, const key_lines& keys,
                         std::vector<ini::problem>& problems);

    std::vector<network> networks() const; // in file order

  private:
    struct entry {
        network net;
        key_lines keys;
        bool usable = false;
        inet::block subnet;
        std::uint32_t gateway = 0;
    };
    // Where a static address was first given, by (network, address).
    struct claim {
        std::string label;
        int line = 0;
    };

    const entry* find(std::string_view name) const;
    std::optional<std::string> static_address_problem(const entry& e, std::uint32_t address,
                                                      const container_draft& d) const;

    std::vector<entry> entries_;
    std::map<std::pair<std::string, std::uint32_t>, claim> statics_;
};

} // namespace ctr::config
