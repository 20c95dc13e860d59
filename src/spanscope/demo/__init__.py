"""The incident lab: an eight-service shop that shows how Spanscope finds a problem.

``spanscope demo`` starts a Spanscope server (unless one answers at ``SPANSCOPE_URL``),
eight small FastAPI services — gateway, users, inventory, orders, payments, shipping,
notifications and an external payment-provider stub — each its own process, traced only
through :mod:`spanscope.sdk`, and a traffic generator; then prints where to look. Incidents
(``missing-index``, ``slow-payment-provider``, ``retry-storm``, ``error-burst``,
``cache-miss``, ``n-plus-one``) switch on and off while it runs. The story: docs/demo.md.

Modules: :mod:`~spanscope.demo.supervisor` (processes, ports, stop), :mod:`~spanscope.demo.
runtime` (one service process), :mod:`~spanscope.demo.shop` and :mod:`~spanscope.demo.
checkout` (the services), :mod:`~spanscope.demo.data` (the SQLite databases),
:mod:`~spanscope.demo.incidents` (the switchboard), :mod:`~spanscope.demo.control` (the HTTP
switch), :mod:`~spanscope.demo.traffic` (the shoppers), :mod:`~spanscope.demo.tour` (what to
look at), :mod:`~spanscope.demo.cli` (the commands).
"""
