#include "agent/prometheus_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

#include "common/assert.hpp"

namespace hactl {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 2^53: every integer of at most this magnitude is exact in a double.
constexpr double kMaxExactInteger = 9007199254740992.0;

}  // namespace

bool MetricsText::valid_metric_name(std::string_view name) {
  if (name.empty() || is_digit(name.front())) return false;
  for (const char c : name) {
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != ':') return false;
  }
  return true;
}

bool MetricsText::valid_label_name(std::string_view name) {
  if (name.empty() || is_digit(name.front()) || name.starts_with("__")) return false;
  for (const char c : name) {
    if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
  }
  return true;
}

std::string MetricsText::format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::trunc(v) == v && std::fabs(v) <= kMaxExactInteger) {
    return std::to_string(static_cast<std::int64_t>(v));  // -0.0 prints as 0
  }
  std::array<char, 32> buf{};
  const auto [ptr, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  HACTL_ASSERT(ec == std::errc{});  // 32 bytes hold any shortest double (at most 24)
  return std::string(buf.data(), ptr);
}

namespace {

// The exposition format's escapes: backslash and newline always, the double quote in label
// values only.
std::string escaped(std::string_view v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string MetricsText::escape_label_value(std::string_view v) { return escaped(v, true); }

std::string MetricsText::escape_help(std::string_view v) { return escaped(v, false); }

MetricsText::Family* MetricsText::find(std::string_view name) {
  for (auto& f : families_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void MetricsText::family(std::string_view name, MetricType type, std::string_view help) {
  if (!valid_metric_name(name)) {
    ++dropped_;
    return;
  }
  if (const Family* f = find(name); f != nullptr) {
    if (f->type != type || f->help != help) ++dropped_;
    return;
  }
  families_.push_back(Family{std::string(name), type, std::string(help), {}});
}

bool MetricsText::valid_labels(const MetricLabels& labels) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!valid_label_name(labels[i].first)) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[j].first == labels[i].first) return false;
    }
  }
  return true;
}

void MetricsText::line(Family& f, std::string_view suffix, const MetricLabels& labels,
                       double value) {
  std::string& out = f.samples;
  out += f.name;
  out += suffix;
  if (!labels.empty()) {
    out += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i != 0) out += ',';
      out += labels[i].first;
      out += "=\"";
      out += escape_label_value(labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += format_value(value);
  out += '\n';
}

void MetricsText::sample(std::string_view name, const MetricLabels& labels, double value) {
  Family* f = find(name);
  if (f == nullptr || f->type == MetricType::kHistogram || !valid_labels(labels)) {
    ++dropped_;
    return;
  }
  line(*f, "", labels, value);
}

void MetricsText::histogram(std::string_view name, const MetricLabels& labels,
                            const std::vector<std::pair<double, double>>& buckets, double sum,
                            double count) {
  Family* f = find(name);
  const bool le_taken =
      std::any_of(labels.begin(), labels.end(), [](const auto& l) { return l.first == "le"; });
  if (f == nullptr || f->type != MetricType::kHistogram || le_taken || !valid_labels(labels)) {
    ++dropped_;
    return;
  }
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const bool ordered = i == 0 || (buckets[i - 1].first < buckets[i].first &&
                                    buckets[i - 1].second <= buckets[i].second);
    if (!ordered || !(buckets[i].second <= count)) {
      ++dropped_;
      return;
    }
  }
  MetricLabels with_le = labels;
  with_le.emplace_back("le", "");
  for (const auto& [le, n] : buckets) {
    with_le.back().second = format_value(le);
    line(*f, "_bucket", with_le, n);
  }
  with_le.back().second = "+Inf";
  line(*f, "_bucket", with_le, count);
  line(*f, "_sum", labels, sum);
  line(*f, "_count", labels, count);
}

std::string MetricsText::str() const {
  std::string out;
  for (const auto& f : families_) {
    if (f.samples.empty()) continue;
    if (!f.help.empty()) out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    const char* type = f.type == MetricType::kGauge     ? " gauge\n"
                       : f.type == MetricType::kCounter ? " counter\n"
                                                        : " histogram\n";
    out += "# TYPE " + f.name + type;
    out += f.samples;
  }
  return out;
}

}  // namespace hactl
