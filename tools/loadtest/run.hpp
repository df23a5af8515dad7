// One load test run from start to end: pick a free bridge and subnet, write the config into a
// fresh folder under /tmp, run ctr-supervisor on it, wait until every container runs and every
// measured ping run is over, read the results from the containers' upper dirs, stop the
// supervisor with SIGTERM, check that nothing of the run is left, remove what is, and remove the
// folder. Failures of the run are collected in the result, never thrown; only a run that could
// not even be set up (no ctr-supervisor beside loadtest, no image) throws.
#pragma once

#include "report.hpp"
#include "scenario.hpp"

namespace ctr::loadtest {

// SIGINT, SIGTERM and SIGHUP end a run early and cleanly; a second one kills the supervisor
// instead of waiting for its shutdown.
void install_signal_handlers();

result run(const options& opt);

} // namespace ctr::loadtest
