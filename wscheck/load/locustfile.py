from wscheck.load.user import WscheckUser  # noqa: F401
