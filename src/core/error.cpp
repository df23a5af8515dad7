#include "ctr/core/error.hpp"

namespace ctr {

void throw_sys(int err, std::string what) {
    throw std::system_error(err, std::generic_category(), what);
}

} // namespace ctr
