// The two implementations of cgroup::driver, private to the module; make_driver() picks one.
#pragma once

#include <memory>

#include "ctr/cgroup/driver.hpp"

namespace ctr::cgroup {

std::unique_ptr<driver> make_v1_driver(layout l);
std::unique_ptr<driver> make_v2_driver(layout l);

} // namespace ctr::cgroup
