"""What every Heisenberg node shares: config parameters, QoS profiles, a clean main()."""
