#include "ctr/net/model.hpp"

#include <fmt/format.h>

#include "ctr/net/cidr.hpp"

namespace ctr::net {

// One line per operation, in the words the supervisor's repair log uses.
std::string to_string(const op& o) {
    switch (o.kind) {
    case op_kind::create_bridge:
        return fmt::format("create bridge {} mtu {}", o.link, o.mtu);
    case op_kind::add_address:
        return fmt::format("add address {} to {}", to_string(o.address), o.link);
    case op_kind::set_mtu:
        return fmt::format("set mtu {} on {}", o.mtu, o.link);
    case op_kind::set_up:
        return fmt::format("set {} up", o.link);
    case op_kind::create_port:
        if (o.port)
            return fmt::format("create port {} for {} on {} with {}", o.link, o.port->container,
                               o.master, to_string(o.port->address));
        return fmt::format("create port {} on {}", o.link, o.master);
    case op_kind::set_master:
        return fmt::format("attach {} to {}", o.link, o.master);
    case op_kind::delete_link:
        return fmt::format("delete link {}", o.link);
    }
    return fmt::format("unknown operation on {}", o.link);
}

} // namespace ctr::net
