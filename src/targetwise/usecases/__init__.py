"""The application layer: each use case written once, for the pipeline, the CLI and the service.

A use case takes a :class:`~targetwise.io.workspace.Workspace` (or the data of one
run) plus typed parameters and returns a typed result. It reads data only through
io (:func:`targetwise.io.modeldata.open_model_data` for model inputs, which already
leaves out customers who objected to profiling; named reads on the workspace for the
rest), calls the pure models, and does not know whether a pipeline stage, an HTTP
route or a command called it. Front ends map their inputs onto these parameters and
the results onto their outputs, nothing more.

Modules: :mod:`.features`, :mod:`.segments`, :mod:`.clv`, :mod:`.propensity`,
:mod:`.recommendations`, :mod:`.uplift`, :mod:`.campaigns`, :mod:`.audiences`,
:mod:`.privacy`, :mod:`.events`; :mod:`.runs` holds the run-data protocol they read
run outputs through.
"""
