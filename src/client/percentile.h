// Percentiles of measured times, for the clients' reports.
#pragma once

#include <vector>

namespace lipsync::client {

// The q-th percentile (0..100) of `values`, linear between closest ranks; 0 when empty.
double percentile(std::vector<double> values, double q);

}  // namespace lipsync::client
