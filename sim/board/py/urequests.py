# urequests: the old name of requests, as MicroPython keeps it.
from requests import *
