"""Facts about AWS's access control, shared by the platform (`infra`) and the embedded local AWS
(`emulator`): nothing here knows either of them."""
