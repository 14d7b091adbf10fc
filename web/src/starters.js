// The starters a new mock can begin from, shipped with the product: each is moclojer YAML
// the server accepts and publishes (the browser tests publish every one and call it).
// `content: null` leaves the text to the api, whose own starter says hello.

export const STARTERS = [
  {
    id: "hello",
    label: "Hello world",
    description: "One endpoint: GET /hello answers a JSON greeting.",
    content: null,
  },
  {
    id: "rest",
    label: "REST resource",
    description: "GET /users (with ?page= and ?q=), GET /users/:id (an integer path parameter), POST /users from a JSON body.",
    content: `# A REST resource: the list (with optional query parameters), one item by its id (a typed
# path parameter), and creating one from a JSON body.
- endpoint:
    method: GET
    path: /users
    response:
      status: 200
      headers:
        Content-Type: application/json
      body: >
        {"users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}], "page": "{{query-params.page}}", "search": "{{query-params.q}}"}
- endpoint:
    method: GET
    path: /users/:id|int
    response:
      status: 200
      headers:
        Content-Type: application/json
      body: >
        {"id": {{path-params.id}}, "name": "User {{path-params.id}}"}
- endpoint:
    method: POST
    path: /users
    response:
      status: 201
      headers:
        Content-Type: application/json
      body: >
        {"id": 3, "name": "{{json-params.name}}"}
`,
  },
  {
    id: "errors",
    label: "Errors and latency",
    description: "GET /slow takes 300–800 ms, GET /flaky fails 3 times in 10, GET /orders/:id answers 404, POST /payments 503 with Retry-After.",
    content: `# Errors and latency: a slow answer, one that fails now and then, and fixed error replies.
- endpoint:
    method: GET
    path: /slow
    latency:
      min-ms: 300
      max-ms: 800
    response:
      status: 200
      headers:
        Content-Type: application/json
      body: >
        {"slow": true}
- endpoint:
    method: GET
    path: /flaky
    latency:
      failure-rate: 0.3
    response:
      status: 200
      headers:
        Content-Type: application/json
      body: >
        {"flaky": "answered this time"}
- endpoint:
    method: GET
    path: /orders/:id
    response:
      status: 404
      headers:
        Content-Type: application/json
      body: >
        {"error": "not_found", "message": "no order {{path-params.id}}"}
- endpoint:
    method: POST
    path: /payments
    response:
      status: 503
      headers:
        Content-Type: application/json
        Retry-After: "30"
      body: >
        {"error": "unavailable", "message": "try again in 30 seconds"}
`,
  },
  {
    id: "webhook",
    label: "Webhook",
    description: "POST /orders answers 202 at once; a second later it calls your service back when the order says \"notify\": true.",
    content: `# A webhook: the order is accepted at once; a second later the mock calls your service
# back when the order asks for it ({"id": 7, "notify": true}). Put your service's address
# under webhook.url.
- endpoint:
    method: POST
    path: /orders
    response:
      status: 202
      headers:
        Content-Type: application/json
      body: >
        {"order": "{{json-params.id}}", "status": "accepted"}
    webhook:
      url: https://your-service.example/webhooks/orders
      method: POST
      sleep-time: 1000
      headers:
        Content-Type: application/json
      body: >
        {"order": "{{json-params.id}}", "status": "shipped"}
      if: json-params.notify = true
`,
  },
];

export const starterById = (id) => STARTERS.find((s) => s.id === id) ?? STARTERS[0];
