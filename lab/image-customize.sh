#!/bin/sh
# mmdebstrap --customize-hook: runs on the build host with the image's root
# directory as $1, after all packages are installed. Turns a plain Debian root
# into a lab host: operator account, network, lab apt source, first-boot host keys.
# Usage: image-customize.sh ROOT OPERATOR PUBKEY_FILE PASSWORD_FILE
set -eu
root=$1 operator=$2 pubkey_file=$3 password_file=$4

# The hostname comes from the kernel command line (systemd.hostname=NAME per VM);
# libnss-myhostname resolves it, so sudo does not warn.
rm -f "$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
echo LANG=C.UTF-8 > "$root/etc/default/locale"
echo LANG=C.UTF-8 > "$root/etc/locale.conf"
# Guests have no DNS (qemu restrict=on); fail fast instead of waiting for timeouts.
echo 'nameserver 127.0.0.1' > "$root/etc/resolv.conf"

mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n' > "$root/etc/systemd/network/20-wired.network"
# The private service network (eth1, see lab/config.py): the VM's fixed MAC picks
# its static address, so one image serves every host. No DHCP there, and never the
# default route (that stays on the user-mode NIC).
for i in 1 2 3 4 5 6 7 8 9; do
  printf '[Match]\nMACAddress=52:54:00:0a:14:%02x\n\n[Network]\nAddress=10.20.0.%d/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
    $((10 + i)) $((10 + i)) > "$root/etc/systemd/network/30-lab-private-$i.network"
done
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
# Timers that would wake up mid-test and eat the emulated CPU.
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer \
  e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true

# The only package source: the lab's loopback repository, which qemu forwards to
# 10.0.2.100:80 (guestfwd). trusted=yes is acceptable ONLY because this is a lab
# repository on the host's loopback, built from Debian's signed archive by the lab
# tool; production hosts keep signed sources.
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
echo 'deb [trusted=yes] http://10.0.2.100/ ./' > "$root/etc/apt/sources.list.d/lab.list"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb

# Unique SSH host keys per VM: the image ships none; the first boot makes them.
rm -f "$root"/etc/ssh/ssh_host_*
cat > "$root/etc/systemd/system/lab-ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate this host's own SSH host keys (lab images ship none)
DefaultDependencies=no
After=local-fs.target
Before=ssh.service multi-user.target
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable lab-ssh-hostkeys.service >/dev/null 2>&1

# The operator account Ansible connects as (key only; the password exists so that
# tests can prove password logins are refused, and for the serial console).
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo "$operator"
install -d -m 700 "$root/home/$operator/.ssh"
install -m 600 "$pubkey_file" "$root/home/$operator/.ssh/authorized_keys"
chroot "$root" chown -R "$operator:$operator" "/home/$operator/.ssh"
printf '%s:%s\n' "$operator" "$(cat "$password_file")" | chroot "$root" chpasswd
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$operator" > "$root/etc/sudoers.d/90-lab-operator"
chmod 440 "$root/etc/sudoers.d/90-lab-operator"
# root keeps a locked password: nothing in the lab logs in as root.
chroot "$root" passwd --lock root >/dev/null
