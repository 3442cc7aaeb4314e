# Source this file (bash) to get the environment scripts/setup.sh prepared:
#   the venv (or the sourced ROS distro), the colcon install/ overlay, the llama-server path,
#   and ROS defaults that keep this machine's tests and demos to itself.
_heis_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -f "$_heis_root/install/setup.bash" ]]; then
  echo "scripts/env.sh: run scripts/setup.sh first (no install/ yet)" >&2
  return 1 2>/dev/null || exit 1
fi
if [[ -n "${ROS_DISTRO:-}" && -f "/opt/ros/${ROS_DISTRO}/setup.bash" ]]; then
  source "/opt/ros/${ROS_DISTRO}/setup.bash"
fi
source "$_heis_root/.venv/bin/activate"
if [[ -z "${ROS_DISTRO:-}" ]]; then
  # ROS from wheels: the venv is the underlay ament prefix.
  case ":${AMENT_PREFIX_PATH:-}:" in *":$VIRTUAL_ENV:"*) ;; *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}";; esac
fi
source "$_heis_root/install/setup.bash"
export HEISENBERG_ROOT="$_heis_root"
export HEISENBERG_MODELS="${HEISENBERG_MODELS:-$_heis_root/models}"
export HEISENBERG_LLAMA_SERVER="${HEISENBERG_LLAMA_SERVER:-$("$_heis_root/scripts/build_llama_server.sh" 2>/dev/null)}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$_heis_root/log/ros}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
unset _heis_root
