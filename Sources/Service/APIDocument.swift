import Foundation

/// The API's OpenAPI 3.1 document, `Resources/openapi.json`: the one description of the routes,
/// their parameters and their JSON shapes. The server serves it at /openapi.json and routes by its
/// path templates; the tests check every response against it.
public enum APIDocument {
    public static let json: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            preconditionFailure("openapi.json is missing from the Service resource bundle")
        }
        return data
    }()

    /// A documented path template and the methods it answers.
    public struct Route: Sendable {
        public var template: String
        public var methods: [String]
        fileprivate var segments: [Substring]
    }

    /// Each documented path as segments, with the methods it answers.
    private static let routes: [Route] = {
        guard let document = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              let paths = document["paths"] as? [String: [String: Any]] else {
            preconditionFailure("openapi.json has no paths object")
        }
        let verbs = ["get", "put", "post", "delete", "patch", "head", "options"]
        return paths.keys.sorted().map { template in
            Route(template: template, methods: verbs.filter { paths[template]?[$0] != nil }.map { $0.uppercased() },
                  segments: template.split(separator: "/"))
        }
    }()

    /// The documented route that a request path matches, such as `/v1/jobs/{id}/mask` for
    /// `/v1/jobs/01J…/mask`; nil if none does.
    public static func route(matching path: String) -> Route? {
        let segments = path.split(separator: "/")
        return routes.first { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { documented, actual in documented.hasPrefix("{") || documented == actual }
        }
    }
}
