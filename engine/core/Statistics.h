#pragma once
// Summary statistics used wherever Lathe reports a measurement (bench, run metrics, the app's charts),
// so that a p99 means the same thing everywhere.

#include <vector>

namespace lathe {

double mean(const std::vector<double>& values);   // 0 for no values
double stddev(const std::vector<double>& values); // sample standard deviation; 0 for fewer than 2
// Linear interpolation between closest ranks (numpy's default), p in [0, 100]; 0 for no values.
double percentile(std::vector<double> values, double p);

} // namespace lathe
