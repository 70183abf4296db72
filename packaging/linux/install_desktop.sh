#!/usr/bin/env bash
# Add SCOAT Follow-up to the desktop menu of the current user (no root needed):
#   bash packaging/linux/install_desktop.sh [BUNDLE_DIR]
# BUNDLE_DIR is the folder holding scoat-app (default: dist/scoat-followup of this checkout);
# without one, `scoat-app` from PATH (a pip/pipx install) is used. Installs the icon set into
# ~/.local/share/icons/hicolor and the .desktop file into ~/.local/share/applications.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bundle=${1:-$root/dist/scoat-followup}
data=${XDG_DATA_HOME:-$HOME/.local/share}
exec_cmd=scoat-app
if [ -x "$bundle/scoat-app" ]; then exec_cmd="$(cd "$bundle" && pwd)/scoat-app"; fi
for png in "$root"/resources/icons/scoat-followup-*.png; do
  size=${png##*-}; size=${size%.png}
  install -Dm644 "$png" "$data/icons/hicolor/${size}x${size}/apps/scoat-followup.png"
done
install -Dm644 "$root/resources/icons/scoat-followup.svg" \
  "$data/icons/hicolor/scalable/apps/scoat-followup.svg"
mkdir -p "$data/applications"
sed -e "s|^Exec=scoat-app|Exec=\"$exec_cmd\"|" -e "s|^TryExec=scoat-app|TryExec=$exec_cmd|" \
  "$here/scoat-followup.desktop" > "$data/applications/scoat-followup.desktop.tmp"
mv "$data/applications/scoat-followup.desktop.tmp" "$data/applications/scoat-followup.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$data/icons/hicolor" 2>/dev/null || true
echo "installed: $data/applications/scoat-followup.desktop (Exec $exec_cmd)"
