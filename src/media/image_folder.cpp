#include "media/image_folder.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "core/log.h"

namespace lipsync::media {
namespace {

namespace fs = std::filesystem;

struct NumberedName {
  std::string prefix;
  std::string digits;
  std::string extension;
};

bool is_image_extension(std::string ext) {
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

bool split_name(const fs::path& path, NumberedName* out) {
  if (!is_image_extension(path.extension().string())) return false;
  const std::string stem = path.stem().string();
  std::size_t start = stem.size();
  while (start > 0 && std::isdigit(static_cast<unsigned char>(stem[start - 1]))) --start;
  if (start == stem.size()) return false;
  *out = {stem.substr(0, start), stem.substr(start), path.extension().string()};
  return true;
}

// "%06d" when every number is written with the same zero-padded width, else "%d".
std::string number_format(const std::map<std::int64_t, NumberedName>& names) {
  const std::size_t width = names.begin()->second.digits.size();
  bool padded = false;
  for (const auto& [number, name] : names) {
    if (name.digits.size() != width) return "%d";
    padded = padded || (name.digits.size() > 1 && name.digits[0] == '0');
  }
  return padded ? fmt::format("%0{}d", width) : "%d";
}

using Groups = std::map<std::string, std::map<std::int64_t, NumberedName>>;

Result<Groups> group_files(const fs::path& dir) {
  Groups groups;
  for (const auto& entry : fs::directory_iterator(dir)) {
    NumberedName name;
    if (!entry.is_regular_file() || !split_name(entry.path(), &name)) continue;
    std::int64_t number = 0;
    std::from_chars(name.digits.data(), name.digits.data() + name.digits.size(), number);
    auto& group = groups[name.prefix + "\n" + name.extension];
    auto [it, inserted] = group.emplace(number, name);
    if (!inserted) {
      return make_error(ErrorCode::kInvalidArgument,
                        "'{}': frames {}{}{} and {}{}{} share number {}", dir.string(), name.prefix,
                        name.digits, name.extension, it->second.prefix, it->second.digits,
                        it->second.extension, number);
    }
  }
  return groups;
}

}  // namespace

Result<FrameFolder> scan_frame_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error(ErrorCode::kNotFound, "frame folder '{}' does not exist", dir.string());
  }
  ASSIGN_OR_RETURN(Groups groups, group_files(dir));
  if (groups.empty()) {
    return make_error(ErrorCode::kNotFound, "no numbered .jpg/.png frames in '{}'", dir.string());
  }
  auto best = std::max_element(groups.begin(), groups.end(), [](const auto& a, const auto& b) {
    return a.second.size() < b.second.size();
  });
  const auto& names = best->second;
  const NumberedName& first = names.begin()->second;
  FrameFolder folder{
      dir, first.prefix + number_format(names) + first.extension, names.begin()->first, {}};
  for (const auto& [number, name] : names) {
    const std::int64_t expected =
        folder.first_number + static_cast<std::int64_t>(folder.files.size());
    if (number != expected) {
      return make_error(ErrorCode::kDataLoss, "'{}': frame number {} is missing (pattern {})",
                        dir.string(), expected, folder.pattern);
    }
    folder.files.push_back(dir / (name.prefix + name.digits + name.extension));
  }
  if (groups.size() > 1) {
    LOG_WARN("media", "'{}': using {} frames named {}; {} other numbered group(s) ignored",
             dir.string(), folder.files.size(), folder.pattern, groups.size() - 1);
  }
  return folder;
}

std::string frame_file_name(std::int64_t index, const std::string& extension) {
  return fmt::format("frame_{:06d}{}", index, extension);
}

}  // namespace lipsync::media
