//! Reading ONNX node attributes from tract's prost structs.

use tract_onnx::pb;

/// Attribute lookups on one node.
pub struct Attrs<'a>(pub &'a pb::NodeProto);

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }
    /// Integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }
    /// Integer attribute with a default.
    pub fn int_or(&self, name: &str, default: i64) -> i64 {
        self.int(name).unwrap_or(default)
    }
    /// Float attribute.
    pub fn float(&self, name: &str) -> Option<f32> {
        self.get(name).map(|a| a.f)
    }
    /// Float list attribute.
    pub fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.get(name).map(|a| a.floats.clone())
    }
    /// Integer list attribute.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    /// String attribute.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    /// String list attribute.
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
    }
}
