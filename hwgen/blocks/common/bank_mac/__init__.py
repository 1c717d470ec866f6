"""The MAC unit beside a DRAM bank, shared by the pim and attention families: ``params`` (plain
Python: the parameter set and ``mac_latency``) and ``rtl`` (the Amaranth core ``BankMac``)."""
