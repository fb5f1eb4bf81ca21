import Foundation

/// Checks JSON values against the JSON Schema subset that openapi.json uses: `$ref` into the
/// document, type (one or a list), const, enum, required, properties, additionalProperties, items,
/// minItems, maxItems, minimum and maximum. Returns what does not conform, by JSON path.
struct JSONSchemaValidator {
    let document: [String: Any]

    func problems(_ value: Any, against schema: [String: Any], at path: String = "$") -> [String] {
        if let reference = schema["$ref"] as? String { return problems(value, against: resolve(reference), at: path) }
        if let types = schema["type"].map({ $0 as? [String] ?? [$0 as? String ?? ""] }), !types.contains(where: { Self.value(value, is: $0) }) {
            return ["\(path): \(Self.describe(value)) is not \(types.joined(separator: " or "))"]
        }
        if value is NSNull { return [] }
        var found: [String] = []
        if let constant = schema["const"], !Self.equal(value, constant) { found.append("\(path): \(value) is not \(constant)") }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal(value, $0) }) { found.append("\(path): \(value) is not one of \(options)") }
        if let number = Self.number(value) {
            if let minimum = schema["minimum"] as? Double, number < minimum { found.append("\(path): \(number) < \(minimum)") }
            if let maximum = schema["maximum"] as? Double, number > maximum { found.append("\(path): \(number) > \(maximum)") }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { found.append("\(path): \(key) is missing") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, member) in object {
                if let property = properties[key] as? [String: Any] {
                    found += problems(member, against: property, at: "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    found += problems(member, against: additional, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    found.append("\(path): \(key) is not in the schema")
                }
            }
        }
        if let array = value as? [Any] {
            if let least = schema["minItems"] as? Int, array.count < least { found.append("\(path): \(array.count) items < \(least)") }
            if let most = schema["maxItems"] as? Int, array.count > most { found.append("\(path): \(array.count) items > \(most)") }
            if let items = schema["items"] as? [String: Any] {
                for (index, element) in array.enumerated() { found += problems(element, against: items, at: "\(path)[\(index)]") }
            }
        }
        return found
    }

    /// Follows a `#/a/b/c` pointer into the document.
    func resolve(_ reference: String) -> [String: Any] {
        var node: Any = document
        for key in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(key)] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    private static func value(_ value: Any, is type: String) -> Bool {
        switch type {
        case "null": value is NSNull
        case "boolean": isBoolean(value)
        case "integer": !isBoolean(value) && number(value).map { $0 == $0.rounded() } == true
        case "number": !isBoolean(value) && number(value) != nil
        case "string": value is String
        case "array": value is [Any]
        case "object": value is [String: Any]
        default: false
        }
    }

    /// JSONSerialization gives booleans as NSNumber too, with the C type char.
    private static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    private static func number(_ value: Any) -> Double? {
        guard !(value is String), let number = value as? NSNumber else { return nil }
        return number.doubleValue
    }

    private static func equal(_ lhs: Any, _ rhs: Any) -> Bool {
        (lhs as? NSObject)?.isEqual(rhs) ?? false
    }

    private static func describe(_ value: Any) -> String {
        isBoolean(value) ? "a boolean" : value is String ? "a string" : value is NSNull ? "null" : number(value) != nil ? "a number"
            : value is [Any] ? "an array" : "an object"
    }
}
