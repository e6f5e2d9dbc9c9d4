#!/bin/sh
systemctl restart dnsmasq
