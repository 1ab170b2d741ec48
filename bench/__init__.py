"""`make bench`: cold start, warm latency, remote calls, sizes and cost of the built functions, beside their peers.

- lab.py     the local stand-ins for AWS and WeChat, and fresh interpreters laid out as Lambda's
- child.py   what runs inside each of those interpreters
- driver.py  what is measured and in which order (warm runs, interleaved cold starts, sizes)
- cost.py    list prices and the cost model
- report.py  the tables, the goals and the JSON file
- peers/     the handlers the functions are compared with

It runs with the development requirements (moto, requests, wechatpy for its peer) and the repo's `local` package.
"""
