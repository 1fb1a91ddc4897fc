// Ponder 1.0 requires an API file; the bench queries Postgres directly.
import { Hono } from "hono";

const app = new Hono();
app.get("/health-bench", (c) => c.text("ok"));
export default app;
