"""fastnn's estimators where scikit-learn's go: ONNX (through to_sklearn and skl2onnx) and
dask-ml's Incremental wrapper on a dask cluster (optional extras: onnx, dask)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn.datasets import load_digits  # noqa: E402


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_model_trained_by_fastnn_runs_in_onnx_runtime(kind):
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    X, y = load_digits()
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "classifier":
            model = MLPClassifier(hidden_layer_sizes=(32, 16), activation="tanh", max_iter=20, random_state=0)
        else:
            model = MLPRegressor(hidden_layer_sizes=(32,), max_iter=20, random_state=0)
        model.fit(X, y)
    exported = model.to_sklearn()
    onnx_model = skl2onnx.convert_sklearn(exported, initial_types=[("X", FloatTensorType([None, X.shape[1]]))],
                                          options={id(exported): {"zipmap": False}} if kind == "classifier" else None)
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"X": X})
    if kind == "classifier":
        labels, probabilities = outputs
        np.testing.assert_allclose(probabilities, model.predict_proba(X), atol=1e-5)
        assert np.mean(labels == model.predict(X)) > 0.999  # a near tie may round the other way in float32
    else:
        np.testing.assert_allclose(outputs[0].ravel(), model.predict(X), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_dask_ml_incremental_trains_chunk_by_chunk_on_a_local_cluster():
    pytest.importorskip("dask_ml")
    import dask.array as da
    from dask.distributed import Client, LocalCluster
    from dask_ml.wrappers import Incremental

    X, y = load_digits()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        X_chunks, y_chunks = da.from_array(X, chunks=(300, 64)), da.from_array(y, chunks=300)
        assert X_chunks.numblocks[0] == 6
        wrapper = Incremental(MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0),
                              scoring="accuracy")
        for _ in range(5):
            wrapper.partial_fit(X_chunks, y_chunks, classes=np.arange(10))
        score = wrapper.score(X_chunks, y_chunks)
    model = wrapper.estimator_
    assert isinstance(model, MLPClassifier) and model.t_ == 5 * len(X)
    assert score > 0.9 and score == model.score(X, y)
