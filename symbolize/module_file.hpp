#pragma once
// Where to open a file the target has mapped. The path in /proc/PID/maps is the target's: in
// another mount namespace (a container) it leads elsewhere from here, or nowhere, so it is
// opened through /proc/PID/root. That still misses a file deleted, replaced (an upgrade under a
// running process) or over-mounted since it was mapped: /proc/PID/map_files/START-END then opens the mapped
// file itself (it needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, as root has).

#include "process_maps.hpp"

#include <string>

namespace sampler {

// The path to open for `mapping` (a file mapping of process `pid`): through /proc/PID/root when
// the file found there is the one mapped (same inode), else the mapping's map_files link when
// it can be opened, else the /proc/PID/root path anyway.
std::string mapped_file_open_path(int pid, const MapEntry& mapping);

} // namespace sampler
