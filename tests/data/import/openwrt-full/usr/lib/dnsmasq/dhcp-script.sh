#!/bin/sh
# Forwards lease events to hotplug (OpenWrt).
exit 0
