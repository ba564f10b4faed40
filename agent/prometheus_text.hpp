// A builder for the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure: no I/O, no logging.
//
// Declare each family once with family(), then add its samples with sample(); str() prints
// every family that has samples as its HELP line (omitted when the help is empty), its TYPE
// line and its samples, in the order the families were declared, whatever the order of the
// sample() calls. A family with no samples is not printed.
//
// Invalid input is dropped, never printed and never fatal (a metric must not stop a failover
// manager): a metric name outside [a-zA-Z_:][a-zA-Z0-9_:]*, a label name outside
// [a-zA-Z_][a-zA-Z0-9_]* or starting with "__" (reserved), a label name repeated in one sample,
// a sample of an undeclared family, a family declared again with another type or help.
// dropped() counts them, so a caller can log it or a test can assert it is zero.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hactl {

enum class MetricType { kGauge, kCounter, kHistogram };

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
 public:
  void family(std::string_view name, MetricType type, std::string_view help);
  void sample(std::string_view name, const MetricLabels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A histogram family's samples: NAME_bucket{le="B"} for each (upper bound B, cumulative
  // count) in `buckets` (bounds increasing, counts not decreasing, none above `count`), then
  // le="+Inf", NAME_sum and NAME_count.
  void histogram(std::string_view name, const MetricLabels& labels,
                 const std::vector<std::pair<double, double>>& buckets, double sum, double count);
  std::string str() const;
  std::size_t dropped() const { return dropped_; }

  static bool valid_metric_name(std::string_view name);
  static bool valid_label_name(std::string_view name);
  // Go's strconv.FormatFloat(v, 'g', -1, 64) as Prometheus prints it, except that an integer
  // of magnitude up to 2^53 (exact in a double) is printed in full: 42, 1000000, -3.
  // Otherwise the shortest text that reads back as the same double (0.25, 1e+20); NaN, +Inf,
  // -Inf.
  static std::string format_value(double v);
  static std::string escape_label_value(std::string_view v);  // \ " newline
  static std::string escape_help(std::string_view v);         // \ newline

 private:
  struct Family {
    std::string name;
    MetricType type;
    std::string help;
    std::string samples;  // printed sample lines, each ending in '\n'
  };
  Family* find(std::string_view name);
  static bool valid_labels(const MetricLabels& labels);
  void line(Family& f, std::string_view suffix, const MetricLabels& labels, double value);

  std::vector<Family> families_;
  std::size_t dropped_ = 0;
};

}  // namespace hactl
